import django_filters

from customers.models import Customer


class CustomerFilter(django_filters.FilterSet):
    code = django_filters.CharFilter(lookup_expr="iexact")

    class Meta:
        model = Customer
        fields = ["is_active", "is_shipper", "is_consignee", "is_bill_to", "code", "billing_state"]
