"""Webhook subscriptions and their deliveries in the back office (ADMIN only, by the role
permissions of migration 0002); every write goes through webhooks.services."""

from django import forms
from django.contrib import admin, messages
from django.urls import reverse
from django.utils.html import format_html

from events.taxonomy import EventType
from tms.admin import ReadOnlyAdmin, ServiceModelAdmin
from webhooks import services
from webhooks.models import WebhookDelivery, WebhookSubscription

RECORD_FIELDS = ["id", "created_at", "updated_at"]
STATE_FIELDS = ["active", "consecutive_failures", "disabled_at", "disabled_reason"]


class WebhookSubscriptionForm(forms.ModelForm):
    url = forms.URLField(
        max_length=2000, assume_scheme="https", help_text="http(s) URL the events are POSTed to."
    )
    event_types = forms.MultipleChoiceField(
        choices=[(t.value, t.value) for t in EventType],
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text="None ticked: every event type.",
    )
    secret = forms.CharField(
        required=False,
        max_length=128,
        widget=forms.PasswordInput(render_value=False),
        help_text="whsec_ + base64 of 24-64 random bytes. Empty on add: one is generated and shown "
        "once; empty on change: kept.",
    )

    class Meta:
        model = WebhookSubscription
        fields = ["url", "event_types", "description", "secret"]


@admin.register(WebhookSubscription)
class WebhookSubscriptionAdmin(ServiceModelAdmin):
    form = WebhookSubscriptionForm
    list_display = ["url", "description", "event_types", "active", "consecutive_failures", "disabled_at"]
    list_filter = ["active"]
    search_fields = ["url", "description"]
    readonly_fields = [*STATE_FIELDS, "deliveries", *RECORD_FIELDS]
    fieldsets = [
        (None, {"fields": ["url", "description", "event_types", "secret"]}),
        ("State", {"fields": [*STATE_FIELDS, "deliveries"]}),
        ("Record", {"fields": RECORD_FIELDS, "classes": ["collapse"]}),
    ]
    actions = ["enable", "disable", "send_test"]
    create_service = services.create_subscription
    update_service = services.update_subscription
    delete_service = services.delete_subscription

    def change_fields(self, form):
        fields = super().change_fields(form)
        if not fields.get("secret"):
            fields.pop("secret", None)  # left empty: kept
        return fields

    def save_model(self, request, obj, form, change):
        super().save_model(request, obj, form, change)
        if not change:
            self.message_user(
                request,
                f"Signing secret of {obj}: {obj.secret} (shown this once; give it to the receiver).",
                messages.WARNING,
            )

    @admin.display(description="deliveries")
    def deliveries(self, subscription: WebhookSubscription) -> str:
        """A link to its deliveries (there may be many: a page of their own, not an inline)."""
        if subscription.pk is None:
            return "-"
        url = reverse("admin:webhooks_webhookdelivery_changelist")
        return format_html('<a href="{}?subscription__id__exact={}">Deliveries</a>', url, subscription.pk)

    @admin.action(description="Enable (reset the failure count)", permissions=["change"])
    def enable(self, request, queryset):
        self.apply_to_each(
            request, queryset, lambda s: services.enable_subscription(s, by=request.user), done="Enabled"
        )

    @admin.action(description="Disable", permissions=["change"])
    def disable(self, request, queryset):
        self.apply_to_each(
            request, queryset, lambda s: services.disable_subscription(s, by=request.user), done="Disabled"
        )

    @admin.action(description="Send a test event", permissions=["change"])
    def send_test(self, request, queryset):
        self.apply_to_each(
            request,
            queryset,
            lambda s: services.send_test_delivery(s, by=request.user),
            done="Test delivery queued for",
        )


@admin.register(WebhookDelivery)
class WebhookDeliveryAdmin(ReadOnlyAdmin):
    list_display = [
        "created_at",
        "subscription",
        "event_type",
        "status",
        "attempts",
        "response_status_code",
        "response_duration_ms",
        "next_attempt_at",
    ]
    list_filter = ["status", "event_type", "subscription"]
    search_fields = ["event_id", "error"]
    list_select_related = ["subscription"]
    date_hierarchy = "created_at"
