"""The vocabulary of the role x URL table."""

ANON, OPERATOR, FINANCE, ADMIN = None, "operator", "finance", "admin"
WHO = (ANON, OPERATOR, FINANCE, ADMIN)
SIGN_IN = 302  # anonymous visitors are sent to the sign-in page


def expect(anon, operator, finance, admin):
    return dict(zip(WHO, (anon, operator, finance, admin), strict=True))
