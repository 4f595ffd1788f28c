from customers.models import Customer
from tms.api import ModelSerializer


class CustomerSerializer(ModelSerializer):
    class Meta:
        model = Customer
        fields = [
            "id",
            "name",
            "code",
            "is_shipper",
            "is_consignee",
            "is_bill_to",
            "contact_name",
            "contact_email",
            "contact_phone",
            "billing_email",
            "billing_address",
            "billing_city",
            "billing_state",
            "billing_postal_code",
            "billing_country",
            "reference",
            "notes",
            "is_active",
            "created_at",
            "updated_at",
        ]
