"""What the feasibility study adds to linkage: sharing agreements, pseudonymisation, aggregate-only sharing,
what each partner holds, sharing scenarios and employers."""
