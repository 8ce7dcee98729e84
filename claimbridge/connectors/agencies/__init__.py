"""connectors/agencies"""
