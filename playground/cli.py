def main(argv=None):
    print("sleuth")
    return 0
