#!/usr/bin/env -S node --import tsx
// The CLI runs its TypeScript sources directly (through tsx), so `npx mini-streamio` needs no build step.
import { execute } from '@oclif/core';

await execute({ dir: import.meta.url });
