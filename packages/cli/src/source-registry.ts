import { type ObjectStore, sourceRegistryKey, sourceRegistryPrefix } from '@tidemark/shared';

/** Records a source in the store's registry, which the journal and restore discover sources from. */
export async function registerSource(store: ObjectStore, source: string): Promise<void> {
  const key = sourceRegistryKey(source);
  if (await store.head(key)) return;
  const doc = { name: source, createdAt: new Date().toISOString() };
  await store.put(key, new TextEncoder().encode(`${JSON.stringify(doc)}\n`));
}

export async function listRegisteredSources(store: ObjectStore): Promise<string[]> {
  const names: string[] = [];
  for await (const obj of store.list(sourceRegistryPrefix)) {
    const name = obj.key.slice(sourceRegistryPrefix.length).replace(/\.json$/, '');
    if (name && !name.includes('/')) names.push(name);
  }
  return names.sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
}
