"""The ACL rule language: who may publish or subscribe where, decided without a database.

Pure Python (no Django, nothing of ours): the dashboard, the command line and the broker all
validate, compile and check rules with acl.language.
"""
