// placeholder: implemented by the capture/testkit work
export {};
