export const ROOT: string;
export const PAGE: string;
export const BEGIN: string;
export const END: string;
export interface ErrorCodeEntry {
  code: string;
  messages: Record<string, string | undefined>;
  sources: string[];
}
export function catalogueFiles(root?: string): Array<(lang: string) => string>;
export function collectCodes(root?: string): ErrorCodeEntry[];
export function cell(text: unknown): string;
export function area(code: string): string;
export function renderBlock(codes: ErrorCodeEntry[]): string;
export function renderPage(page: string, codes: ErrorCodeEntry[]): string;
