from django.urls import path

from events.api.views import PublishView, StoredEventList, TopicsView

urlpatterns = [
    path("events/", StoredEventList.as_view(), name="event-list"),
    path("events/publish", PublishView.as_view(), name="event-publish"),
    path("events/topics", TopicsView.as_view(), name="event-topics"),
]
