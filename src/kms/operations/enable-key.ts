import { keyStateChange } from '../key-state-change.js'

export const enableKey = keyStateChange('EnableKey', 'Enabled')
