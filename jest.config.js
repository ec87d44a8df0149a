/** Unit (marble) specs and integration specs both live in spec/; benchmarks never run here. */
module.exports = {
  testEnvironment: 'node',
  roots: ['<rootDir>/spec'],
  transform: { '^.+\\.ts$': ['ts-jest', { tsconfig: 'tsconfig.json' }] },
  testTimeout: 15000,
};
