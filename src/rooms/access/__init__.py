"""Who may do what, below the domain packages: operator identity (sign-in, sessions,
lockout) and the signed media tokens that stand in for artifact ids in URLs. Client identity
(`kit.clients`) sits one layer lower still."""
