from customers import services
from customers.api.filters import CustomerFilter
from customers.api.serializers import CustomerSerializer
from customers.models import Customer
from tms.api import TmsModelViewSet
from tms.api_defaults import OperatorsAndViewers


class CustomerViewSet(TmsModelViewSet):
    """Customers: read by ADMIN, DISPATCHER and VIEWER, written by ADMIN and DISPATCHER; drivers have
    no business with the commercial side."""

    queryset = Customer.objects.all()
    serializer_class = CustomerSerializer
    permission_classes = [OperatorsAndViewers]
    filterset_class = CustomerFilter
    search_fields = ["name", "code", "reference", "billing_city"]
    ordering_fields = ["name", "code", "created_at"]
    create_service = services.create_customer
    update_service = services.update_customer
    delete_service = services.delete_customer
