"""wharf.gc"""
