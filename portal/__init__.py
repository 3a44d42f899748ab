"""The client side: magic links, invoice pages, payments and saved payment methods."""
