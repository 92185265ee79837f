/**
 * A plain (flags 0) segment as format v1 wrote it before compression and encryption
 * existed: two records (`txAt(0x1000n)`, `txAt(0x1010n)` of segment-fixtures.ts), prevSha256
 * GENESIS, created 2026-11-23T10:41:08.000Z. Kept as bytes so that old journals are proven
 * to stay readable whatever the encoder does today.
 */
export const V1_GOLDEN_SEGMENT = {
  length: 611,
  sha256: 'f2fb2e5e9cf2d28eabae7b5ca99a6ec63a089a57170fdb2badf7852d9dd2d100',
  base64:
    'VE1TRUcwMDEBAAAAAAEAAN4ACKZzb3VyY2WkbWFpbqhmaXJzdExzbrAwMDAwMDAwMDAwMDAxMDAwp2xhc3RMc26wMDAwMDAw' +
    'MDAwMDAwMTAxMK9maXJzdENvbW1pdFRpbWWwMTc5NTQzMDQ2NzAwNDA5Nq5sYXN0Q29tbWl0VGltZbAxNzk1NDMwNDY3MDA0' +
    'MTEyq3JlY29yZENvdW50AqpwcmV2U2hhMjU22UBhYWFhYWFhYWFhYWFhYWFhYWFhYWFhYWFhYWFhYWFhYWFhYWFhYWFhYWFh' +
    'YWFhYWFhYWFhYWFhYWFhYWFhYWFhqWNyZWF0ZWRBdLgyMDI2LTExLTIzVDEwOjQxOjA4LjAwMFpnAAAAW7ZO6pn5aaaYAaRt' +
    'YWluzRAAxAgAEAAAAAAAAMQICBAAAAAAAADECMBmNDvvYAYAkZXNQACmcHVibGljpm9yZGVycwCYomlkFP/DpG5vdGUZ/8KR' +
    'lAAAkqQ0MDk2sG5vdGUgNDA5NiDDvPCfmIDAZwAAAATgTA5Gr4gVmAGkbWFpbs0QEMQIEBAAAAAAAADECBgQAAAAAAAAxAjQ' +
    'ZjQ772AGAJGVzUAApnB1YmxpY6ZvcmRlcnMAmKJpZBT/w6Rub3RlGf/CkZQAAJKkNDExMrBub3RlIDQxMTIgw7zwn5iAwJKT' +
    'xAjAZjQ772AGAMQIABAAAAAAAADNARCTxAjQZjQ772AGAMQIEBAAAAAAAADNAYP2AQAAAAAAADEAAABlQ8BbguOKovL7Ll6c' +
    '8tKOq657XKmabsY6CJpXFw/bK633hS2d0tEAVE1TRUdFTkQ=',
};
