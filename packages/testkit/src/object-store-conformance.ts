// placeholder: implemented by the shared-core work
export {};
