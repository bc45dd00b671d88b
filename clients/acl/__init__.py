"""Connections → ACL Rules in the dashboard: views, forms and routes (the rule language is acl.language)."""
