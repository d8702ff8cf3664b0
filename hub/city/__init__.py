"""The synthetic city generator (`unipay generate`)."""
