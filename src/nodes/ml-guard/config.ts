/** ml-guard's configuration, declared once for the editor and the runtime (see ../shared/config). */
import { type ConfigOf, defineTypedConfig } from '../shared/config';

/** One row of the rule table; the editor writes text, a hand-written flow may hold numbers. */
export interface GuardRuleConfig {
  feature: string;
  min?: string | number;
  max?: string | number;
  default?: string | number;
  maxDelta?: string | number;
}

/** The policy per check and the replacement per feature check (the guard library's defaults). */
export const DEFAULT_POLICY: Record<string, string> = { missing: 'drop', null: 'drop', type: 'drop', nan: 'drop', range: 'flag', spike: 'flag', stuck: 'flag', count: 'drop', stale: 'drop' };
export const DEFAULT_REPLACE: Record<string, string> = { missing: 'last', null: 'last', type: 'last', nan: 'last', range: 'clamp', spike: 'last', stuck: 'last' };

// 0 -> 1 (0.1.x -> 0.2): counts and times saved as numbers become text.
export const ML_GUARD_CONFIG = defineTypedConfig({
  name: '',
  model: '',
  features: '',
  expectedCount: '',
  rules: [] as GuardRuleConfig[],
  stuckSamples: '0',
  staleMs: '0',
  timestampProperty: 'timestamp',
  policies: { ...DEFAULT_POLICY },
  replaceWith: { ...DEFAULT_REPLACE },
});

export type MlGuardConfig = ConfigOf<typeof ML_GUARD_CONFIG>;
