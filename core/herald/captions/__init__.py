"""What a caption is made of (its features) and its quick score, without any data: shared by publishing,
which scores every caption it stores, and intelligence, which learns from them."""
