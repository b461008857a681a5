"""sleuth.engine"""
