/** What the CLI uses of the SDK, in one place. */
export * from '#sdk';
