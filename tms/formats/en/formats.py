"""How the back office writes a time: `2026-12-07 08:00 CST`, the zone named (tms.times.local_time
writes facility times the same way). The admin shows times in the operator's zone
(tms.middleware.BackOfficeTimeZoneMiddleware); the API writes RFC 3339 in UTC whatever this says.
Django's own English formats fill in everything not set here."""

DATETIME_FORMAT = "Y-m-d H:i T"
SHORT_DATETIME_FORMAT = "Y-m-d H:i T"
