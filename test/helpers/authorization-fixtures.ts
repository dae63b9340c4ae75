/** The principals and keys the authorization engine's tests speak of. */
export const ACCOUNT = '111122223333'
export const ROOT = `arn:aws:iam::${ACCOUNT}:root`
export const ALICE = `arn:aws:iam::${ACCOUNT}:user/alice`
export const BOB = `arn:aws:iam::${ACCOUNT}:user/bob`
export const KEY = `arn:aws:kms:us-east-1:${ACCOUNT}:key/1234abcd-12ab-34cd-56ef-1234567890ab`
export const OTHER_KEY = `arn:aws:kms:us-east-1:${ACCOUNT}:key/0987dcba-09fe-87dc-65ba-ab0987654321`
