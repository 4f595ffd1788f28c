"""Single files of npm packages served as static files (no CDN), for packages whose folder holds
far more than the browser needs: OpenLayers' `ol` is 12 MB of modules around one script and one
stylesheet, and whitenoise (WHITENOISE_USE_FINDERS) indexes every file a finder lists when a
process starts. Packages that ship a `dist` folder of their own (Leaflet) are in
STATICFILES_DIRS instead. `npm ci` (scripts/bootstrap) installs node_modules/."""

from django.conf import settings
from django.contrib.staticfiles.finders import BaseFinder
from django.core.files.storage import FileSystemStorage

# Package -> the files of it served, as "PACKAGE/FILE" static paths.
NODE_MODULES_FILES: dict[str, tuple[str, ...]] = {
    "ol": ("ol.css", "dist/ol.js"),  # GeoDjango's map widget (tms.admin.OfflineOSMWidget)
    "chart.js": ("dist/chart.umd.min.js",),  # the admin home's charts (tms/dashboard.py)
}


class NodeModulesFinder(BaseFinder):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.storages: dict[str, FileSystemStorage] = {}
        for package in NODE_MODULES_FILES:
            storage = FileSystemStorage(location=settings.BASE_DIR / "node_modules" / package)
            storage.prefix = package  # collectstatic puts the files under PACKAGE/
            self.storages[package] = storage

    def check(self, **kwargs):
        return []

    def find(self, path, find_all=False, **kwargs):
        find_all = find_all or kwargs.get("all", False)  # Django < 6 names it `all`
        package, _, name = path.partition("/")
        storage = self.storages.get(package)
        if storage is None or name not in NODE_MODULES_FILES[package] or not storage.exists(name):
            return []  # as Django's finders answer "not here", whatever find_all
        return [storage.path(name)] if find_all else storage.path(name)

    def list(self, ignore_patterns):
        for package, storage in self.storages.items():
            for name in NODE_MODULES_FILES[package]:
                if storage.exists(name):
                    yield name, storage
