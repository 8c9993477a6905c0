"""wharf.storage"""
