"""Domain errors: values a client can act on, each mapped once to a status and code in tms/api.py."""


class DomainError(Exception):
    status_code = 422
    code = "business_rule_violation"

    def __init__(self, message: str, *, details: dict | None = None):
        super().__init__(message)
        self.message = message
        self.details = details or {}


class InvalidTransition(DomainError):
    status_code = 409
    code = "invalid_transition"


class Conflict(DomainError):
    status_code = 409
    code = "conflict"


class ResourceUnavailable(Conflict):
    """A vehicle or driver that is busy with other work."""

    code = "resource_unavailable"


class BusinessRuleViolation(DomainError):
    status_code = 422
    code = "business_rule_violation"


class CapacityExceeded(BusinessRuleViolation):
    code = "capacity_exceeded"


class EquipmentMismatch(BusinessRuleViolation):
    """A truck whose type or reefer unit cannot haul the freight (fleet.rules.equipment_mismatch)."""

    code = "equipment_mismatch"


class CarrierMismatch(BusinessRuleViolation):
    code = "carrier_mismatch"


class LicenseExpired(BusinessRuleViolation):
    code = "license_expired"


class HoursOfServiceExceeded(BusinessRuleViolation):
    code = "hours_of_service_exceeded"


class TooManyPoints(DomainError):
    """More GPS fixes in one batch than GPS_BATCH_MAX_POINTS: nothing is stored."""

    status_code = 413
    code = "too_many_points"


class DependencyUnavailable(DomainError):
    """A service this call needs (the broker, a routing provider) does not answer."""

    status_code = 503
    code = "dependency_unavailable"


class DocumentTooLarge(DomainError):
    """A document over TMS_DOCUMENT_MAX_BYTES: nothing is stored."""

    status_code = 413
    code = "document_too_large"


class UnsupportedDocumentType(DomainError):
    """A document whose content is not one of the accepted types: nothing is stored."""

    status_code = 415
    code = "unsupported_document_type"


class ProofOfDeliveryRequired(BusinessRuleViolation):
    """TMS_REQUIRE_POD_ON_DELIVERY is on and the last delivery has no POD document."""

    code = "proof_of_delivery_required"
