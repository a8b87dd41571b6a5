export function flatten(obj: unknown, prefix?: string): Record<string, unknown>;
export function placeholders(text: unknown): string[];
export function compareCatalogues(label: string, en: unknown, de: unknown): string[];
