"""sleuth.playground"""
