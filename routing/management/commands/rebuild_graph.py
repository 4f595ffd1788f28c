"""`manage.py rebuild_graph`: clears the freight network graph and rebuilds it from the database.

With Neo4j (NEO4J_URI set) this repairs the shared graph. The in-process graph lives in each
process's memory, so there the command only checks the projection and prints what it would hold.
"""

from django.core.management.base import BaseCommand

from routing.graph import get_graph


class Command(BaseCommand):
    help = "Clear the freight network graph and rebuild it from the database; prints the counts."

    def handle(self, *args, **options):
        graph = get_graph()
        counts = graph.rebuild_from_database()
        self.stdout.write(
            f"{type(graph).__name__}: "
            + ", ".join(f"{count} {name.replace('_', ' ')}" for name, count in counts.items())
        )
