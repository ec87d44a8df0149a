/** Unit (marble) specs and integration specs both live in spec/; benchmarks never run here (spec/bench.smoke.spec.ts only smokes their code). */
module.exports = {
  testEnvironment: 'node',
  roots: ['<rootDir>/spec'],
  transform: { '^.+\\.ts$': ['ts-jest', { tsconfig: 'tsconfig.json' }] },
  testTimeout: 15000,
  // Spawned-process specs run the build (node dist/...) as `npm start` does: build it once first.
  globalSetup: '<rootDir>/spec/support/jest-global-setup.ts',
};
