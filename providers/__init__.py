"""Destination providers: one folder each, behind `engagectl.sync.provider.Provider`.

A provider folder is a package whose `PROVIDER` attribute is its Provider class; the registry
finds them by folder, so adding a provider never touches the sync engine.
"""
