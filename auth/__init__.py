"""wharf.auth"""
