app_name = "workspaces"

# The dashboard's workspace and settings pages are added here.
urlpatterns: list = []
