"""connectors/banks"""
