import django_filters

from documents.models import Document, DocumentKind
from tms.filters import MultipleChoiceFilter


class DocumentFilter(django_filters.FilterSet):
    kind = MultipleChoiceFilter(choices=DocumentKind.choices)
    stop_id = django_filters.UUIDFilter(field_name="stop")

    class Meta:
        model = Document
        fields = ["kind", "stop_id"]
