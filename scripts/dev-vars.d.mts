// Types of scripts/dev-vars.mjs, for the test that imports it.
export declare const GENERATED_SECRETS: string[]
export declare const LOCAL_DEFAULTS: { name: string; value: string; comment: string }[]
export declare function newDevVars(example: string, values: Record<string, string>): string
export declare function devVarsAdditions(text: string, randomSecret: () => string): { append: string; added: string[] }
