"""The audit log's admin pages are registered in ``adminsite.admin``: each line links to the user and the client it
names, which live in apps above this one."""
