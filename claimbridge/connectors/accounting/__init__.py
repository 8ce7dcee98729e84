"""connectors/accounting"""
