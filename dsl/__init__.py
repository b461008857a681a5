"""sleuth.dsl"""
