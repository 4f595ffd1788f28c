from events.api.views import PublishView, StoredEventList, TopicsView
from tms.api import api_path

urlpatterns = [
    api_path("events", StoredEventList.as_view(), name="event-list"),
    api_path("events/publish", PublishView.as_view(), name="event-publish"),
    api_path("events/topics", TopicsView.as_view(), name="event-topics"),
]
