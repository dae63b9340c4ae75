/**
 * The error vocabulary of the KMS wire protocol.
 *
 * Every error that reaches a client is a {@link KmsError}: its `name` is the AWS
 * exception name (`__type` on the wire), its `message` is AWS's text (or absent where
 * AWS sends none), and its HTTP status follows what real AWS returns on the JSON
 * endpoint (400 for every client fault, see docs/errors.md). Anything that is not a
 * KmsError is turned into a detail-free KMSInternalException by the API layer.
 *
 * @module
 */

export const KMS_ERROR_NAMES = [
  // Modeled KMS exceptions.
  'AlreadyExistsException',
  'CloudHsmClusterNotFoundException',
  'ConflictException',
  'CustomKeyStoreNotFoundException',
  'DependencyTimeoutException',
  'DisabledException',
  'DryRunOperationException',
  'ExpiredImportTokenException',
  'IncorrectKeyException',
  'IncorrectKeyMaterialException',
  'InvalidAliasNameException',
  'InvalidArnException',
  'InvalidCiphertextException',
  'InvalidGrantIdException',
  'InvalidGrantTokenException',
  'InvalidImportTokenException',
  'InvalidKeyUsageException',
  'InvalidMarkerException',
  'KMSInternalException',
  'KMSInvalidMacException',
  'KMSInvalidSignatureException',
  'KMSInvalidStateException',
  'KeyUnavailableException',
  'LimitExceededException',
  'MalformedPolicyDocumentException',
  'NotFoundException',
  'TagException',
  'UnsupportedOperationException',
  // Errors of the AWS front end (not in the KMS model, returned by every AWS JSON service).
  'AccessDeniedException',
  'IncompleteSignatureException',
  'InvalidSignatureException',
  'MissingAuthenticationTokenException',
  'SerializationException',
  'ThrottlingException',
  'UnknownOperationException',
  'UnrecognizedClientException',
  'ValidationException',
] as const

export type KmsErrorName = (typeof KMS_ERROR_NAMES)[number]

/** Errors that are the server's fault; everything else is the client's. */
const SERVER_FAULTS: ReadonlySet<KmsErrorName> = new Set(['KMSInternalException', 'KeyUnavailableException', 'DependencyTimeoutException'])

/**
 * AWS's JSON endpoint answers every client fault, front-end ones included
 * (InvalidSignatureException, UnrecognizedClientException, ...), with 400; the Smithy
 * model's 409s are not what the wire shows (reference §1.7). Server faults differ.
 */
const STATUS_OVERRIDES: Partial<Record<KmsErrorName, number>> = {
  // AWS's common-errors page gives 404 for an operation the service does not know.
  UnknownOperationException: 404,
  KMSInternalException: 500,
  KeyUnavailableException: 500,
  DependencyTimeoutException: 503,
}

/**
 * An error that is allowed onto the wire. `message` is `undefined` where AWS sends no
 * message member at all (InvalidCiphertextException, for one).
 */
export class KmsError extends Error {
  override readonly name: KmsErrorName
  readonly fault: 'client' | 'server'
  readonly httpStatus: number
  /** The message as it goes on the wire; `undefined` omits the member. */
  readonly wireMessage: string | undefined

  constructor(name: KmsErrorName, message?: string) {
    super(message ?? name)
    this.name = name
    this.wireMessage = message
    this.fault = SERVER_FAULTS.has(name) ? 'server' : 'client'
    this.httpStatus = STATUS_OVERRIDES[name] ?? 400
  }
}

export function isKmsError(err: unknown): err is KmsError {
  return err instanceof KmsError
}

// Constructors for the errors whose text is fixed by AWS. Keeping them here, and only
// here, is what keeps the wording identical everywhere it is raised.

/** Every decrypt failure, whatever its cause, is this one error with no message. */
export function invalidCiphertext(): KmsError {
  return new KmsError('InvalidCiphertextException')
}

export function incorrectKey(): KmsError {
  return new KmsError('IncorrectKeyException', 'The key ID in the request does not identify a CMK that can perform this operation.')
}

export function notFoundInvalidKeyId(keyId: string): KmsError {
  return new KmsError('NotFoundException', `Invalid keyId '${keyId}'`)
}

export function notFoundKey(arn: string): KmsError {
  return new KmsError('NotFoundException', `Key '${arn}' does not exist`)
}

export function notFoundInvalidArn(region: string): KmsError {
  return new KmsError('NotFoundException', `Invalid arn ${region}`)
}

export function aliasNotFound(aliasArn: string): KmsError {
  return new KmsError('NotFoundException', `Alias ${aliasArn} is not found.`)
}

export function validation(message: string): KmsError {
  return new KmsError('ValidationException', message)
}

export function internalError(): KmsError {
  return new KmsError('KMSInternalException', 'An internal error has occurred.')
}
