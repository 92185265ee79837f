import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vitest/config';

const src = (p: string) => fileURLToPath(new URL(p, import.meta.url));

// Tests import workspace packages from source so that `vitest` never runs against stale builds;
// tests that spawn the `tidemark` binary use the compiled output, which `npm test` builds first.
const alias = {
  '@tidemark/shared': src('./packages/shared/src/index.ts'),
  '@tidemark/testkit': src('./packages/testkit/src/index.ts'),
  '@tidemark/capture': src('./services/capture/src/index.ts'),
  '@tidemark/journal': src('./services/journal/src/index.ts'),
  '@tidemark/restore': src('./services/restore/src/index.ts'),
};

export default defineConfig({
  resolve: { alias },
  test: {
    projects: [
      {
        resolve: { alias },
        test: {
          name: 'unit',
          include: ['packages/*/src/**/*.test.ts', 'services/*/src/**/*.test.ts'],
          testTimeout: 60_000,
          hookTimeout: 60_000,
        },
      },
      {
        resolve: { alias },
        test: {
          name: 'e2e',
          include: ['test/**/*.test.ts'],
          testTimeout: 600_000,
          hookTimeout: 120_000,
        },
      },
    ],
  },
});
