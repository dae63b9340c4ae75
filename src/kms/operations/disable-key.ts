import { keyStateChange } from '../key-state-change.js'

export const disableKey = keyStateChange('DisableKey', 'Disabled')
