// Placeholder so the package builds until this test target gets its tests.
