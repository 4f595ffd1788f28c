import factory
from django.contrib.auth.models import Group, User


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = User
        django_get_or_create = ("username",)
        skip_postgeneration_save = True

    username = factory.Sequence(lambda n: f"user{n}")
    password = factory.django.Password("pass-word-123")

    @factory.post_generation
    def roles(self, create, extracted, **kwargs):
        # get_or_create: a transactional test's flush (TransactionTestCase) empties the role groups
        # the migrations made, and a later test on the same worker still needs its roles.
        for name in extracted or ():
            self.groups.add(Group.objects.get_or_create(name=name)[0])
