"""The `tiegraph` command line: main.py holds the app and its everyday commands; admin.py the
tenant keys and blocklist, mailboxes.py the connected mailboxes and `sync`."""
