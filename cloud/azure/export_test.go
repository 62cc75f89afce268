package azure

// DecodeListPage exposes the driver's list page decoder to the external
// tests, which compare it with the SDK's on the emulator's pages.
var DecodeListPage = decodeListPage

// ListAPIVersion is the api-version the driver's list requests carry.
const ListAPIVersion = listAPIVersion
