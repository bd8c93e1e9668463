const path = require('node:path');

/**
 * The packages as a platform team consumes them: packs every workspace and the root with `npm pack`,
 * installs the tarballs into throwaway repositories with the registry's cdk8s/constructs at the low
 * end of our peer range, type-checks and synthesizes a chart there (cdk8s-cli, jest snapshot), runs
 * the bins, and runs the agent image's production install (worker/Dockerfile). Needs the npm
 * registry (or a warm npm cache); takes about a minute.
 */
module.exports = {
  displayName: 'packaging',
  rootDir: path.join(__dirname, '..', '..'),
  roots: ['<rootDir>/test/packaging'],
  testMatch: ['**/*.test.ts'],
  // The fixture platform repo's own test runs inside the consumer repo, by the suite.
  testPathIgnorePatterns: ['/node_modules/', '/fixtures/'],
  transform: { '^.+\\.ts$': ['ts-jest', { tsconfig: '<rootDir>/tsconfig.test.json' }] },
  testEnvironment: 'node',
  // Builds every package once, before the suites pack and install them.
  globalSetup: '<rootDir>/test/packaging/global-setup.ts',
};
